"""The routing domain's process-level caches, and `reset_caches()`, which empties them all.

Tests call `reset_caches()` between tests (through the global reset of the test fixtures), so that no test sees
what an earlier one built; the application never needs to (each cache refreshes itself, see below).
"""

from __future__ import annotations

from chengzhi.routing import classifier, duplicates, duplicates_index, places, rules, urgency


def reset_caches() -> None:
    """Empties every process-level cache of the routing domain; each is rebuilt on its next use.

    - `rules._indexes`: the area index per database (active units, their areas in STR trees, departments by
      function), rebuilt every 30 s or after `rules.invalidate()` (the organisation changed);
    - `places._gazetteers`: the gazetteer per database (territorial unit names and their short forms, place names
      learned from history), rebuilt every 60 s, with the area index, or after `places.invalidate()`;
    - `duplicates._groups`: category names, groups and codes per database (reasons of duplicate candidates),
      read again every 60 s or with the area index;
    - `duplicates.candidate_query` (lru_cache): the duplicates search statement per database kind;
    - `duplicates_index._template` and `_bands_from_array` (lru_caches): the MinHash template (its permutations)
      and PostgreSQL's insert of a request's index keys;
    - `classifier._active`: the registry's active category model, loaded once per process and re-checked every
      30 s (`classifier.forget_active()`, also called after an activation in this process);
    - `urgency._cache`: the urgency terms per terms file, loaded once per process.

    Not reset: the words added to jieba's dictionary (`text.add_words`: a loaded model's and the city
    dictionary's words). They are not a cache (nothing reads them back in), and removing them does not give back
    a fresh tokenizer (jieba's `del_word` also zeroes words of its own dictionary); tests that add words remove
    them with `text.reset_words()`. Nor the jieba and OpenCC objects `text` initialises once (no data of a city).
    """
    rules.invalidate()
    places.invalidate()
    duplicates.invalidate()
    duplicates.candidate_query.cache_clear()
    duplicates_index.clear_built()
    classifier.forget_active()
    urgency.invalidate()
