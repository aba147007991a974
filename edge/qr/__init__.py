"""QR codes: decoding from camera frames and verification of what they carry."""
