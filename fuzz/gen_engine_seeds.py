#!/usr/bin/env python3
"""Write seed inputs for the `engine` fuzz target into seeds/engine/.

Each seed is a whole workshop in the target's compact byte format (see the comments in
fuzz_targets/engine.rs): settings, seed, start time, a prefilled lobby, then steps of
(wait byte, command byte, argument bytes). They let the fuzzer start from sessions that
reach rotation, late joiners, leavers, the reveal, dot voting, clusters and merges instead of
having to discover each phase byte by byte. Deterministic: the same files every run.

    python3 fuzz/gen_engine_seeds.py
"""

import os
import random
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "engine")

# Command indices (first byte of a step, modulo 25), in the order of FuzzCommand.
JOIN, CONNECT, DISCONNECT, WRITE, DONE, START, PAUSE, RESUME, EXTEND, ADVANCE, FINISH = range(11)
RESYNC, LEAVE, REMOVE, LOCK, UNLOCK, PRESENT, OPEN_VOTING, CLOSE_VOTING = range(11, 19)
VOTE, UNVOTE, CLUSTER, DELETE_CLUSTER, ASSIGN, MERGE = range(19, 25)

NOW = 0            # wait byte: no time passes
TO_DEADLINE = 0xFF # wait byte: to the running round's deadline
NONE = 0           # Option: None
SOME = 1           # Option: Some, the value follows


def pool(k):
    """A FuzzText byte for pool text k (0-7)."""
    return 2 + k % 8


def header(ideas, round_seconds, group, max_rounds, max_participants, seed, lobby):
    b = bytes([ideas - 1]) + struct.pack("<H", round_seconds - 1) + bytes([group - 2])
    b += bytes([SOME, max_rounds - 1]) if max_rounds else bytes([NONE])
    b += bytes([max_participants]) + struct.pack("<Q", seed) + struct.pack("<I", 0)
    return b + bytes([lobby])


class Script:
    def __init__(self, rng, ideas, n):
        self.rng, self.ideas, self.n, self.out = rng, ideas, n, bytearray()

    def step(self, cmd, *args, wait=NOW):
        # 0xFF waits to the round's deadline plus a signed millisecond byte (0 here).
        self.out += bytes([wait] + ([0] if wait == TO_DEADLINE else []) + [cmd, *args])

    def round(self, writers, build=True, done=True):
        for who in writers:
            for slot in range(self.ideas):
                if self.rng.random() < 0.8:
                    on = [SOME, 160 + self.rng.randrange(8)] if build and self.rng.random() < 0.4 else [NONE]
                    self.step(WRITE, who, slot, pool(self.rng.randrange(8)), NONE, *on)
            if done:
                self.step(DONE, who, NONE)

    def decide(self, n_ideas_hint=12):
        r = self.rng
        self.step(PRESENT, SOME, r.randrange(8))
        self.step(PRESENT, NONE)
        for _ in range(r.randrange(1, 4)):
            self.step(CLUSTER, NONE, pool(r.randrange(8)))
        for _ in range(r.randrange(2, 6)):
            self.step(ASSIGN, r.randrange(n_ideas_hint), SOME, r.randrange(3))
        self.step(MERGE, r.randrange(n_ideas_hint), SOME, r.randrange(n_ideas_hint))
        votes = r.randrange(1, 6)
        self.step(OPEN_VOTING, votes, r.randrange(1, votes + 1))
        for _ in range(r.randrange(self.n, 3 * self.n + 1)):
            self.step(VOTE, r.randrange(self.n), r.randrange(n_ideas_hint))
        self.step(UNVOTE, r.randrange(self.n), r.randrange(n_ideas_hint))
        self.step(CLOSE_VOTING)
        self.step(MERGE, r.randrange(n_ideas_hint), SOME, r.randrange(n_ideas_hint))
        self.step(CLUSTER, SOME, 0, pool(r.randrange(8)))
        self.step(DELETE_CLUSTER, r.randrange(3))


def workshop(i):
    r = random.Random(i)
    n = r.randrange(2, 13)
    ideas = r.randrange(1, 4)
    group = r.choice([2, 3, 4, 5, 6, 6, 6, 12])
    max_rounds = r.choice([None, None, 2, 3, 6])
    s = Script(r, ideas, n)
    s.step(START)
    rounds = 0
    while rounds < 12:
        rounds += 1
        kind = r.random()
        writers = list(range(s.n))
        if kind < 0.15:
            # A late joiner, connected, seated at the next boundary.
            s.step(JOIN, 200 + rounds, SOME, pool(rounds))
            s.step(CONNECT, s.n)
            s.n += 1
        elif kind < 0.25:
            s.step(LEAVE, r.randrange(s.n))
        elif kind < 0.3:
            s.step(REMOVE, r.randrange(s.n))
        elif kind < 0.4:
            s.step(PAUSE)
            s.step(EXTEND, r.randrange(1, 40))
            s.step(RESUME, wait=200)
        elif kind < 0.45:
            s.step(RESYNC, r.randrange(0, 5), r.randrange(2))
            for who in range(s.n):
                s.step(CONNECT, who)
        s.round(writers, done=r.random() < 0.7)
        # Let the clock end the round when not everyone said done; advance sometimes.
        if r.random() < 0.3:
            s.step(ADVANCE)
        else:
            s.step(DISCONNECT, 0, wait=TO_DEADLINE)
            s.step(CONNECT, 0)
        if r.random() < 0.15:
            break
    s.step(FINISH)
    s.decide(n_ideas_hint=max(2, n * ideas))
    if r.random() < 0.3:
        s.step(LOCK)
        s.step(JOIN, 7, NONE)
        s.step(UNLOCK)
    return header(ideas, r.choice([30, 60, 300]), group, max_rounds, 64, i, n) + bytes(s.out)


def main():
    os.makedirs(OUT, exist_ok=True)
    for i in range(24):
        with open(os.path.join(OUT, f"workshop-{i:02d}.bin"), "wb") as f:
            f.write(workshop(i))
    print(f"wrote 24 seeds to {OUT}")


if __name__ == "__main__":
    main()
