"""Grading kit for the deep-learning basics chapter.

One rubric (:mod:`grader.rubric`), one check library (:mod:`grader.checks`), and thin front ends:
the pytest plugin used by ``pytest exercises/`` and the ``grade`` command line.
"""
