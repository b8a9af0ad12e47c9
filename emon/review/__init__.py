"""What the reclassering and the OM need after the fact: evidence, figures, analysis."""
