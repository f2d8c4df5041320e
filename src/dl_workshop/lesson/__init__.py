"""The lesson's pure functions and data: the linear model, its losses, the lesson's points, random
draws, and the chapter's polynomial and logistic regression."""
