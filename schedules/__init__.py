"""Committed tuned schedule records, installed with tecomp as package data `tecomp.records`
(see tecomp.cache.committed_dir). Only the JSON files here matter."""
