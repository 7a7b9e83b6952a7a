"""The bottom room: configuration, records, errors and small pure helpers; imports nothing else
of the project."""
