"""`semsearch`, the command line: one subcommand per operation of the `Collection` facade."""
