"""What the book shows: plots, text tables and widgets."""
