"""A support desk written with Stratum, with mistakes ``stratum check`` should report."""
