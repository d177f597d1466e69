"""Opening files: image decoding, corruptness check, content hashes."""
