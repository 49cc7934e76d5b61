"""The sync: runs over students, their jobs, payment sources, parsers and the money rule."""
