"""Loads the grader's pytest plugin for these tests: ``pytest exercises/`` grades the exercises (options
``--dl-only``, ``--dl-submission``, ...; ``pytest exercises/ --help`` lists them). The plugin is loaded here, not
by installing the kit, so no other pytest run sees it."""

pytest_plugins = ["grader.pytest_plugin"]
