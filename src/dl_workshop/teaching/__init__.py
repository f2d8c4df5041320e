"""What learners and instructors see: checkers, hints and grading; plots; diagrams; interactive
explorers."""
