"""The operations console: server-rendered pages for the people on duty, beside the API."""
