"""Suggestions for a mistyped name: only near-identical names, since a user who
follows a suggestion for a different real name silently changes the model."""


def unknown_name_error(kind, name, known):
    """A ValueError for an unknown ``kind`` name, with near-identical names and the full list.

    Only a likely typo gets a suggestion (see ``_near``): a user who follows one for
    a different real name (``"elu"`` -> ``"relu"``) would silently change the model."""
    close = near_names(name, known)
    hint = f" Did you mean {', '.join(repr(k) for k in close)}?" if close else ""
    return ValueError(f"Unknown {kind} {name!r}.{hint} Known: {', '.join(sorted(known))}.")


def near_names(name, known):
    """Up to three of ``known`` that ``name`` looks like a typo of, nearest first."""
    scored = [(_near(str(name), k), k) for k in known]
    return [k for _, k in sorted((d, k) for d, k in scored if d is not None)[:3]]


def _near(name, known):
    """The edit distance from ``name`` to ``known`` when ``name`` looks like a typo of
    it, else None.  Case, ``_`` and ``-`` are ignored; beyond that the first letter
    must match (``"gelu"``, ``"selu"`` and ``"elu"`` are other functions than
    ``"relu"``, not typos of it) and one edit is allowed from 4 letters, two from 10
    (``"mae"`` is not ``"mse"``; ``"mean_absolute_error"`` is not
    ``"mean_squared_error"``).  A name cut short (``"glorot"``, 3 letters or more)
    suggests the names it begins."""
    a, b = (s.lower().replace("_", "").replace("-", "") for s in (name, known))
    if len(a) >= 3 and b.startswith(a):
        return len(b) - len(a)
    budget = 2 if len(a) >= 10 else 1 if len(a) >= 4 else 0
    if not budget or a[:1] != b[:1] or abs(len(a) - len(b)) > budget:
        return None
    distance = _edit_distance(a, b)
    return distance if distance <= budget else None


def _edit_distance(a, b):
    """Insertions, deletions, substitutions and swaps of neighbours (a typed ``"reul"``
    is one swap from ``"relu"``) turning ``a`` into ``b``."""
    before, row = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (ca != cb))
            if before is not None and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        before, row = row, current
    return row[-1]
