"""The attack suite of the grading sandbox: hostile submissions (``snippets``) and the harness that grades them
with the real ``grade`` command on a throwaway copy of the kit (``harness``). The tests are in
``tests/test_attacks.py``; each one proves one attack of the README's Security section fails."""
