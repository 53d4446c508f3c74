/*
 * The inbox in job order (InboxBuilder::in_job_order; postgres/src/inbox/
 * sql/mod.rs `first_of_its_job` and the `free` of `begin`): two events of
 * one Gemini job, E1 (the earlier envelope timestamp) and E2, stored in
 * either order at any time, and two workers.
 *
 * A claim reads its snapshot (is an earlier event of the job pending?) and
 * then leases the row, which it re-checks itself (FOR UPDATE SKIP LOCKED):
 * the snapshot may be stale by the time the lease lands, an event stored
 * meanwhile unseen. A job's transaction tries the job's advisory lock
 * before its handler starts; a failed try leaves the claim to lapse.
 * Handlers succeed or fail (due again); a worker may die mid-attempt (its
 * transaction, lock and lease go with it).
 *
 * Checked (see model/check):
 *   - never two handlers of the job at once                      (assert)
 *   - E2 starts only once E1 is done, if E1 was stored when E2's
 *     claim read its snapshot (an event stored later cannot be put
 *     before one already claimed)                                 (assert)
 *   - both events are eventually done (weak fairness)           (ltl progress)
 *
 * -DBUG_NO_LOCK (no advisory lock: the condition of the claim alone) and
 * -DBUG_UNORDERED (no condition: the lock alone) each yield a
 * counterexample; the model of the code passes.
 */

#define PENDING 0
#define DONE    1

byte state[3];        /* E1, E2 (index 0 unused) */
bool stored[3];
byte lease[3];        /* the worker holding the claim; 0: none */
byte lock = 0;        /* the worker whose job transaction holds the job's lock */
bool running[3];      /* a handler of the event runs */
bool seen1[3];        /* worker w's claim of E2 read E1 as stored */
byte faults = 2;

/* The claim's condition on E2: no earlier event of the job pending. */
#ifdef BUG_UNORDERED
#define FIRST_OF_ITS_JOB true
#else
#define FIRST_OF_ITS_JOB !(stored[1] && state[1] == PENDING)
#endif

/* The claim's condition on E2: no earlier event of the job pending. */
#ifdef BUG_UNORDERED
#define FIRST_OF_ITS_JOB true
#else
#define FIRST_OF_ITS_JOB !(stored[1] && state[1] == PENDING)
#endif

ltl progress { <> (state[1] == DONE && state[2] == DONE) }

/* The two deliveries, stored in either order, each at any time. */
active proctype Gemini() {
    if
    :: stored[1] = true; stored[2] = true
    :: stored[2] = true; stored[1] = true
    fi
}

/* The attempt ends: done or due again, its lease and lock dropped. */
inline finish(w, i, ok) {
    if :: ok -> state[i] = DONE :: else -> skip fi;
    lease[i] = 0;
    running[i] = false;
    if :: lock == w -> lock = 0 :: else -> skip fi
}

proctype Worker(byte w) {
    byte i;
end_idle:
    /* claim, part one: the snapshot, the claim's condition applied to
     * it, offers a due event of the job */
    atomic {
        if
        :: stored[1] && state[1] == PENDING && lease[1] == 0 -> i = 1
        :: stored[2] && state[2] == PENDING && lease[2] == 0 && FIRST_OF_ITS_JOB ->
            i = 2; seen1[w] = stored[1]
        fi
    }
    /* claim, part two: the lease lands, the row itself re-checked (FOR
     * UPDATE SKIP LOCKED); the snapshot may be stale by now */
    atomic {
        if
        :: lease[i] == 0 && state[i] == PENDING -> lease[i] = w
        :: else -> goto end_idle
        fi
    }
    /* begin: the job's transaction tries the job's lock */
    atomic {
#ifdef BUG_NO_LOCK
        lock = w;
#else
        if
        :: lock == 0 -> lock = w
        :: else -> lease[i] = 0; goto end_idle   /* held back: the claim lapses */
        fi;
#endif
        assert(!running[3 - i]);                   /* never beside */
        assert(i != 2 || !seen1[w] || state[1] == DONE);  /* in order */
        running[i] = true
    }
    /* the handler ends, or the worker dies */
    atomic {
        if
        :: true -> finish(w, i, true)
        /* a failure or a crash: bounded, so that progress is checked */
        :: faults > 0 -> faults--; finish(w, i, false)
        fi;
        goto end_idle
    }
}

init {
    atomic {
        run Worker(1);
        run Worker(2)
    }
}
