"""The command line: flags, commands and their one-line errors (a thin shell over the library).

Importing this package imports nothing else: the command line reads some of its
modules before TensorFlow loads.

  main                 the entry point (`run`): usage text, flag parsing, picking the command
  flags                every flag, and the configs built from them
  errors               exit codes, one-line errors, Ctrl-C / SIGTERM / full-disk reports
  run_state            the folder the running command claimed, for those reports
  preflight            checks and set-up several commands share; TensorFlow's quiet import
  train_commands       train and evaluate
  tune_command         tune (a search, a distributed search's chief or worker, --compare)
  compare_command      compare (batch sizes)
  tensorboard_command  tensorboard
  quiet                TensorFlow's start-up chatter kept off the terminal
"""
