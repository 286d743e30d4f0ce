"""The command line: the edge of harmony_py, where files, terminals and exit codes live."""
