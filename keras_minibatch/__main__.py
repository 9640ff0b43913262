"""`python -m keras_minibatch` runs the command line."""

from keras_minibatch.cli.main import run

if __name__ == "__main__":
    run()
