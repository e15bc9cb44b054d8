"""Formats the project sets where Django's own locale data lacks one (FORMAT_MODULE_PATH)."""
