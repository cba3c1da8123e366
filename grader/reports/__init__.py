"""What a grade looks like: the result and its formats, the figures, the class view, regrade diffs and the
environment manifest."""
