"""Training: the chain that turns a data set into a model folder (prepare -> translate ->
segment -> self-train -> Koos grader). May import model/, inference/ and koos/; nothing there
imports it."""
