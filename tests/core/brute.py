"""Brute-force references for the matching core (small inputs only)."""


def devices(pools):
    """One entry per free device: the index of the pool it comes from."""
    out = []
    for i, pool in enumerate(pools):
        out.extend([i] * max(pool.get("count", 0), 0))
    return out


def feasible(pools, requests):
    """Try every assignment of request units to distinct devices."""
    devs = devices(pools)
    units = [pred for pred, count in requests for _ in range(count)]
    used = [False] * len(devs)

    def assign(k):
        if k == len(units):
            return True
        for j, pool_index in enumerate(devs):
            if not used[j] and units[k](pools[pool_index]):
                used[j] = True
                if assign(k + 1):
                    return True
                used[j] = False
        return False

    return assign(0)


def max_instances(pools, requests):
    k = 0
    while feasible(pools, [(p, c * (k + 1)) for p, c in requests]):
        k += 1
    return k
