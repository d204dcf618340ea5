"""The names of the project's defaults that tables are read by, in a module that imports
nothing: the claims and the scorecard (the last jobs of a run) need them, not torch
(~1.5 s to import in every such job)."""

# The paper's optimizer's token (bnopt.training.optim): its runs keep the paper's paths.
PAPER_TOKEN = "sgd"
# The default recipe's token (bnopt.training.recipe): empty, so its runs keep their paths.
DEFAULT_RECIPE = ""
# The recipe part of a ResNet without its skip connections (bnopt.training.recipe): first
# in a recipe's token, so the plain net of recipe r is "noskip+r" ("noskip" for the default).
NO_SKIP = "noskip"
