"""`python -m keras_minibatch` runs the command line."""

from keras_minibatch.cli.main import console_entry

if __name__ == "__main__":
    console_entry()
