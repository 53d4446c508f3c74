/*
 * The inbox's job protocol (postgres/src/inbox/sql/, attempt.rs, hold.rs) for one
 * stored delivery, two workers, Gemini's retries and bounded faults: a claim
 * whose answer is lost (or, before the fix, that lands after the worker gave
 * up), a worker crash at any step, the job's connection lost under a running
 * handler, renewals that do not get through, handlers that fail or hang.
 *
 * Time is discrete: a tick lowers every countdown (the lease's `run_at`, a
 * running job's hold deadline and timeout). A timer that is due fires before
 * time moves on: that is what the worker's watch does, a third of a lease
 * ahead of the lease.
 *
 * Checked (see model/check):
 *   - no two handlers of the delivery run at once            (assert)
 *   - an attempt counts only when its handler starts         (ltl attempts)
 *   - a failure leaves the job retryable or dead             (assert)
 *   - a crashed worker's job is claimable within BOUND ticks (assert)
 *   - an acknowledged delivery is stored                     (ltl stored)
 *   - every stored job eventually is done or dead            (ltl progress)
 *
 * Each of the review's findings 1-5, written back in with -DBUG1 … -DBUG5,
 * yields a counterexample; the model of today's code passes.
 */

#define PENDING 0
#define DONE    1
#define DEAD    2

#define MAX     2   /* max_attempts */
#define MARGIN  1   /* the hold's deadline comes this long before the lease lapses */
#define TIMEOUT 4   /* the job timeout: longer than a lease, as 10 min is */
#define BOUND   4   /* a crashed worker's job runs again within: 30 s, in ticks */

#ifdef BUG5
#define LEASE   8   /* finding 5: a 5-minute lease from the claim, never renewed */
#define BUG4
#else
#define LEASE   3   /* 15 s, renewed every third */
#endif

#ifdef BUG2
#define FAULTS  0
#else
#define FAULTS  2
#endif

byte state = PENDING;
bool stored = false;   /* ingest committed the row */
bool acked = false;    /* Gemini got a 2xx */
byte attempts = 0;     /* the row's count */
byte started = 0;      /* handler starts */
byte lease = 0;        /* 0: none; w: worker w's claim */
byte lease_left = 0;   /* ticks until run_at: 0 means due */
byte locked = 0;       /* whose job transaction holds the row (FOR KEY SHARE) */
bool handler[3];
bool holding[3];       /* a worker's hold: from its claim to the attempt's end */
byte deadline[3];      /* ticks until the hold's deadline, counted from the claim */
byte job_left[3];
bool conn[3];          /* the job's connection */
byte faults = FAULTS;

ltl attempts { [] (attempts <= started) }
ltl stored_if_acked { [] (acked -> stored) }
ltl progress { <> (state == DONE || state == DEAD) }

/* Gemini delivers until it gets a 2xx; ingest is idempotent (the primary
 * key), and a 2xx may be lost after the commit (a 503 on timeout). */
active proctype Gemini() {
    do
    :: !acked ->
        atomic {
            stored = true;
            if
            :: acked = true
            :: faults > 0 -> faults--
            fi
        }
    :: acked -> break
    od
}

active proctype Ticker() {
end_tick:
    do
    :: atomic {
#ifndef BUG4
        /* The watch fires on time: no tick passes a due hold deadline. */
        !(handler[1] && deadline[1] == 0) && !(handler[2] && deadline[2] == 0) &&
#endif
#ifndef BUG3
        !(handler[1] && job_left[1] == 0) && !(handler[2] && job_left[2] == 0) &&
#endif
        /* Claim, begin and start take less than a tick: each is bounded by
         * the inbox timeout (1 s), far below the lease. */
        !(holding[1] && !handler[1]) && !(holding[2] && !handler[2]) ->
        if :: lease_left > 0 -> lease_left-- :: else -> skip fi;
        if :: holding[1] && deadline[1] > 0 -> deadline[1]-- :: else -> skip fi;
        if :: holding[2] && deadline[2] > 0 -> deadline[2]-- :: else -> skip fi;
        if :: handler[1] && job_left[1] > 0 -> job_left[1]-- :: else -> skip fi;
        if :: handler[2] && job_left[2] > 0 -> job_left[2]-- :: else -> skip fi
    }
    od
}

/* The attempt is over: its hold and timers forgotten (zeroed, so that
 * equal situations are one state). */
inline forget(w) {
    handler[w] = false;
    holding[w] = false;
    deadline[w] = 0;
    job_left[w] = 0
}

/* The process dies: its transaction and its handler with it. */
inline crash(w) {
    forget(w);
    conn[w] = false;
    if :: locked == w -> locked = 0 :: else -> skip fi;
    if
    :: lease == w && state == PENDING -> assert(lease_left <= BOUND)
    :: else -> skip
    fi
}

/* Records a failed attempt (the handler failed, timed out or lost its
 * hold): rolled back, the lease dropped, due again or dead. */
inline fail(w) {
    forget(w);
    if :: locked == w -> locked = 0 :: else -> skip fi;
    conn[w] = false;
    if
    :: lease == w ->
        lease = 0;
        lease_left = 0;
        if :: attempts >= MAX -> state = DEAD :: else -> skip fi
    :: else -> skip
    fi;
    assert(state == DEAD || state == DONE || (state == PENDING && lease != w))
}

#ifdef BUG2
/* finding 2: the claim filtered on attempts */
#define CLAIMABLE (stored && state == PENDING && lease_left == 0 && locked == 0 && attempts < MAX)
#else
#define CLAIMABLE (stored && state == PENDING && lease_left == 0 && locked == 0)
#endif

proctype Worker(byte w) {
    bool hangs;
end_idle:
    /* claim: a due pending row no transaction holds (SKIP LOCKED) */
    atomic {
        CLAIMABLE ->
        hangs = false;
        lease = w;
        lease_left = LEASE;
#ifdef BUG1
        attempts++;         /* finding 1: counted at the claim */
#endif
        if
        :: holding[w] = true; deadline[w] = LEASE - MARGIN
        /* The answer lost; before the fix also a claim that committed after
         * the client gave up (no server-side statement_timeout). */
        :: faults > 0 -> faults--; goto end_idle
        fi;
#ifndef BUG2
        /* Out of attempts (its worker died on the last, or max lowered). */
        if
        :: attempts >= MAX -> state = DEAD; lease = 0; lease_left = 0; forget(w); goto end_idle
        :: else -> skip
        fi
#endif
    }

    /* begin: the job's transaction locks the row if the lease is ours */
    atomic {
        if
        :: lease == w && state == PENDING && locked == 0 -> locked = w; conn[w] = true
        :: else -> forget(w); goto end_idle
        fi
    }

    /* start: the attempt counted, committed before the handler runs; or
     * the process dies first */
    atomic {
        if
        :: faults > 0 -> faults--; crash(w); goto end_idle
        :: true
        fi;
#ifndef BUG1
        if
        :: lease == w -> attempts++
        :: else -> locked = 0; conn[w] = false; forget(w); goto end_idle
        fi;
#endif
        started++;
#ifndef BUG4
        /* The hold's deadline passed before the handler could start: the
         * watch resolves first and the handler is never polled. */
        if :: deadline[w] == 0 -> fail(w); goto end_idle :: else -> skip fi;
#endif
        assert(!handler[3 - w]);   /* no twin */
        handler[w] = true;
        job_left[w] = TIMEOUT;
        if :: hangs = true :: hangs = false fi
    }

    do
    /* Ok: marked done, committed with the handler's writes (if the
     * transaction is still there; if not, the lease lapses). */
    :: atomic {
        !hangs ->
        if
        :: conn[w] && locked == w -> state = DONE; lease = 0; lease_left = 0; locked = 0
        :: else -> skip
        fi;
        forget(w);
        goto end_idle
    }
    :: atomic { !hangs -> fail(w); goto end_idle }
#ifndef BUG4
    /* A renewal that gets through (one that does not changes nothing). */
    :: atomic { lease == w && lease_left < LEASE -> lease_left = LEASE; deadline[w] = LEASE - MARGIN }
    /* The watch: noticing and cancelling are one step (the watch future
     * resolves, the handler's future is dropped); noticing a closed
     * connection may come late, the deadline never does. */
    :: atomic { lease != w -> locked = 0; conn[w] = false; forget(w); goto end_idle }
    :: atomic { !conn[w] -> fail(w); goto end_idle }
    :: atomic { deadline[w] == 0 -> fail(w); goto end_idle }
#endif
#ifndef BUG3
    :: atomic { job_left[w] == 0 -> fail(w); goto end_idle }
#endif
    /* The job's connection lost; the process lives on. */
    :: atomic { faults > 0 && conn[w] -> faults--; conn[w] = false; if :: locked == w -> locked = 0 :: else -> skip fi }
    :: atomic { faults > 0 -> faults--; crash(w); goto end_idle }
    od
}

init {
    atomic {
#ifdef BUG2
        /* Failed MAX + 1 times under a higher max_attempts, due again. */
        stored = true;
        acked = true;
        attempts = MAX + 1;
        started = MAX + 1;
#endif
        run Worker(1);
        run Worker(2)
    }
}
