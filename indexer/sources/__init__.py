"""Reading the inputs a user gives: walking folders, decoding bytes, and one reader per kind of file
(plain text and HTML, JSON lines, tables, PDF, Office and OpenDocument files, e-books, e-mail),
each yielding documents and, for what it cannot use, a `Skipped` naming the place and the reason."""
