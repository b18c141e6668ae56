"""Date and time formats of the staff pages per language (settings.FORMAT_MODULE_PATH):
times to the second in tables, 24-hour clocks, no ambiguous m/d/Y. Names not set here
fall back to Django's formats for the language."""
