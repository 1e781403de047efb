"""The variant pipeline: from "apply this style to these products" to files on storage.

A variant is one ``StylizedImage`` row and its file; seen as work (the API's "job") it
moves ``pending -> running -> ready | failed | dead``. The modules, lowest first (each
imports only those before it):

- ``sources``: which model fields hold photos; their content hashes and sizes;
- ``state``: the state machine (claim, finish, fail, reclaim, stalled);
- ``files``: where a variant's file goes, written atomically; partial files removed;
- ``queue``: sending row ids to the django-q2 workers;
- ``requests``: what admins, the API and commands ask for (plan, count, request, retry,
  progress);
- ``previews``: the admin's style previews, asked for by the web, rendered by a worker;
- ``sweeper``: recovery from lost tasks and dead workers;
- ``upgrades``: variants an older engine rendered, rendered again; each old one
  retired once its successor shows;
- ``worker``: what a worker does with claimed rows (the engine's Django side);
- ``handlers``: reactions to saved and deleted photos, styles and variants (connected
  in ``stylestore.signals``).

The rules that make jobs neither lost nor duplicated:

1. Rows are created under their unique key *before* any work; an existing row for
   the same key is reused, so asking twice creates nothing.
2. Tasks are enqueued after commit and carry ids, never model instances.
3. A worker claims rows with one conditional UPDATE (``pending -> running``,
   ``attempts + 1``, a lease, and a claim token). A second delivery of the same task
   claims nothing. The token tells each worker exactly which rows it won.
4. Output goes to a name keyed from the content address (the same for the same
   inputs, unguessable without the secret key) and is complete before the row flips
   to ``ready`` in one UPDATE guarded by the claim token.
5. The sweeper (a django-q2 schedule) re-queues pending rows whose task was lost and
   running rows whose lease expired (their worker died). Because ``attempts`` grows at
   claim time, a worker that dies counts as an attempt: a poison input that kills its
   worker ends ``dead`` after ``MAX_ATTEMPTS`` executions instead of looping forever.
   Rows whose worker died are re-run alone, so one poison input cannot take its batch
   mates down with it.
"""
