"""How good a model is: eval over a corpus, the score of one text, novelty of samples."""
