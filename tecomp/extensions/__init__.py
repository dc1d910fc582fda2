"""ANNarchy-style extensions: `tecomp.extensions.convolution`."""
