"""Credit supervision (信用监管): the entity registry, credit records, explainable grades and credit repair."""
