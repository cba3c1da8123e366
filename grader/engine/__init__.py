"""The grading engine: the sandbox and its child, the wire format, loading a submission, the shortcut scan and
run-time tripwire, the probing engine, the reference and its cache, the secret's seeds, the compilation cache and
the batch executors."""
