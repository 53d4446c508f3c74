/*
 * The replay store's protocol as the receiver runs it (src/receiver/guard.rs,
 * src/replay/*): one delivery id, two replicas, Gemini sending copies to
 * either and retrying until it gets a 2xx, store calls that fail (503) or
 * whose answer is lost, handlers that fail or run long.
 *
 *   claim   -> New(token): the handler runs | InFlight: 409 | Done: 200
 *   extend  every third of the in-flight TTL while the handler runs
 *   commit  on the handler's 2xx (token-checked), release otherwise
 *   lapse   an in-flight claim not extended for the TTL is free again
 *
 * Checked (see model/check):
 *   - no two handlers of the delivery run at once   (assert)
 *   - a 2xx reaches Gemini only for a delivery some handler completed
 *                                                    (ltl handled_if_acked)
 *
 * A failed extension is tried again at the next tick; when no extension
 * has landed a margin before the claim lapses (ttl_left == 1 here), or the
 * store says the claim is gone, the receiver drops the handler and answers
 * 503, so time never lapses a claim whose handler still runs.
 *
 * Variants: -DBUG_NO_EXTEND (claims never extended: a handler slower than
 * the TTL gets a twin), -DBUG_ACK_IN_FLIGHT (a copy in flight answered 200:
 * the delivery is lost if the first handler then fails), -DPARTITION (the
 * store unreachable from one replica while its handler runs: extensions
 * fail; must pass), and -DBUG_RUN_ON (with PARTITION, the behaviour before
 * 0.1's round three: one failed extension ends the keep-alive and the
 * handler runs on, so a retry on the other replica runs beside it).
 */

#ifdef BUG_RUN_ON
#define PARTITION
#endif

#define FREE     0
#define INFLIGHT 1
#define DONE     2
#define TTL      3

byte st = FREE;
byte owner = 0;        /* token of the claim in flight: the replica's number */
byte ttl_left = 0;
bool running[3];
bool extending[3];     /* the replica still extends its claim */
bool acked = false;
byte handled_ok = 0;
byte faults = 2;

ltl handled_if_acked { [] (acked -> handled_ok > 0) }

active proctype Ticker() {
end_tick:
    do
    :: atomic {
        /* A due extension is sent before the claim could lapse. */
        !(running[1] && extending[1] && ttl_left == 1) &&
        !(running[2] && extending[2] && ttl_left == 1) ->
        if :: st == INFLIGHT && ttl_left > 0 -> ttl_left-- :: else -> skip fi;
        if :: st == INFLIGHT && ttl_left == 0 -> st = FREE; owner = 0 :: else -> skip fi
    }
    od
}

proctype Replica(byte r) {
    bool ok;
end_idle:
    do
    :: !acked ->   /* a copy (or Gemini's retry) arrives */
        atomic {
            if
            :: st == FREE -> st = INFLIGHT; owner = r; ttl_left = TTL;
                assert(!running[3 - r]);   /* no twin */
                running[r] = true;
#ifdef BUG_NO_EXTEND
                extending[r] = false
#else
                extending[r] = true
#endif
            :: st == INFLIGHT ->
#ifdef BUG_ACK_IN_FLIGHT
                acked = true
#else
                skip   /* 409: Gemini retries */
#endif
            :: st == DONE -> acked = true   /* 200: already handled */
            :: faults > 0 -> faults--        /* store unavailable: 503 */
            fi
        }
        if
        :: running[r] ->
            do
            :: atomic { extending[r] && owner == r && st == INFLIGHT -> ttl_left = TTL }
#ifdef PARTITION
            /* An extension fails (the store did not answer). */
            :: atomic { extending[r] && faults > 0 -> faults--;
#ifdef BUG_RUN_ON
                extending[r] = false   /* the keep-alive ends; the handler runs on */
#else
                skip                   /* tried again at the next tick */
#endif
               }
#endif
#ifndef BUG_RUN_ON
            /* The claim is due to lapse with no extension landed, or the
             * store says it is gone: the handler is dropped, 503. */
            :: atomic { extending[r] && (ttl_left == 1 || owner != r) ->
                running[r] = false; ok = false }; break
#endif
            :: atomic { true -> running[r] = false; ok = true }; break
            :: atomic { true -> running[r] = false; ok = false }; break
            od;
            atomic {
                if
                :: ok ->
                    handled_ok++;
                    /* commit, token-checked; the answer stands either way */
                    if :: owner == r && st == INFLIGHT -> st = DONE; owner = 0 :: else -> skip fi;
                    if
                    :: acked = true
                    :: faults > 0 -> faults--   /* the 2xx lost on the way: Gemini retries */
                    fi
                :: else ->
                    /* release, token-checked: 500, Gemini retries */
                    if :: owner == r && st == INFLIGHT -> st = FREE; owner = 0 :: else -> skip fi
                fi;
                extending[r] = false;
                ok = false
            }
        :: else -> skip
        fi
    :: acked -> break
    od
}

init {
    atomic {
        run Replica(1);
        run Replica(2)
    }
}
