"""Face identification: detect, track, check quality, align, embed, search the gallery."""
