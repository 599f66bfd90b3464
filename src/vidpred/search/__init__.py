"""A search over settings with Optuna; every trial is an ordinary run folder.

    python -m vidpred.search [OVERRIDES]
    python -m vidpred.search model=convlstm data=mnist hparams_search.n_trials=40
    python -m vidpred.report outputs/search/convlstm_mnist_l1

OVERRIDES are ``python -m vidpred.run``'s and apply to every trial; ``hparams_search.*`` (the preset
``conf/hparams_search/optuna.yaml`` unless ``hparams_search=OTHER`` is given) sets the study's name
and folder, the space, the objectives, the sampler and the pruner. Running the same command again
continues the study; running it in several shells, on machines that share the folder, or in every
task of a SLURM array adds workers to the same study.

A command of its own rather than a Hydra sweeper: Hydra finds a sweeper only as a plugin in an
installed ``hydra_plugins`` namespace, which an editable install hides, and the promises below need
each trial's life (asked, run, resumed, pruned, told) in vidpred's hands. Each trial composes its
config with Hydra's compose API and runs :func:`vidpred.run.run_experiment` in this process.

- **Many workers, one study.** The study is kept in Optuna's journal file ``<dir>/study.journal`` (no
  server; or a database URL). A worker asks for one trial at a time while it holds ``<dir>/.ask.lock``,
  so trials are counted, drawn and settled by one worker at a time: the study ends with ``n_trials``
  finished trials, none run twice. Each worker holds a lock in ``<dir>/workers/`` for its life.
- **A crash loses nothing and repeats nothing.** Each trial draws with a sampler seeded by (``seed``,
  trial number), so a restarted worker draws new values. A RUNNING trial whose worker and run folder
  are both unlocked belongs to a dead process: if its run had ended, it is told from the run folder's
  ``metrics.json``; otherwise it is marked FAIL with the reason and a copy of its parameters is
  queued, which continues in the same run folder from its ``last.pt`` (vidpred resumes a folder
  exactly when the same config runs in it again).
- **Pruning.** Each epoch's validation value is reported to the trial (the trainer's
  ``on_validation_end`` hook); when the pruner gives up on it, the run ends with status ``pruned``.

The trial's study and number are written into its ``metrics.json``, its run folder into the trial's
user attributes; after every change the worker writes ``<dir>/search.json``, which the report reads
without Optuna.

The parts: ``settings`` (the ``hparams_search`` node), ``space`` (Hydra's sweep syntax as Optuna
distributions, a trial's overrides), ``locks`` (the flocks that keep workers apart), ``study`` (the
Optuna study: sampler, pruner, storage, dead trials, the summary), ``trial`` (one trial run as a run
folder), ``worker`` (the ask/run/tell loop) and ``command`` (``python -m vidpred.search``).
"""
