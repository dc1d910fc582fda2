"""The version of tecomp: part of every compiled kernel's cache key."""

VERSION = "0.1.0"
