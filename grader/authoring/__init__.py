"""What instructors build: exercise stubs from the solutions, the nbgrader course, the student template repository
and the Gradescope autograder."""
