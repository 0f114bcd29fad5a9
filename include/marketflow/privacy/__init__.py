"""Privacy: forgetting a person on request (the right to erasure), and keeping them forgotten."""
