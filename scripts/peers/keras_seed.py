"""The seed workload in Keras 3, as a Python user writes it: Dense(512, relu) on 784 inputs,
Dense(10, softmax), categorical cross-entropy, Adam (Keras defaults), batch 128, validated on the
test set each epoch. The backend is KERAS_BACKEND (jax or tensorflow); THREADS caps the threads of
both (XLA's Eigen pool and TensorFlow's intra-op pool).

    python keras_seed.py MNIST_DIR THREADS EPOCHS

Prints one JSON line per epoch: the training part's seconds and samples/s (validation excluded, as
threadfit's bench times it), and the validation accuracy.
"""
import json
import os
import resource
import sys
import time

mnist_dir, threads, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.environ.setdefault('TF_NUM_INTRAOP_THREADS', str(threads))
os.environ.setdefault('TF_NUM_INTEROP_THREADS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('XLA_FLAGS', f'--xla_cpu_multi_thread_eigen={"true" if threads > 1 else "false"} intra_op_parallelism_threads={threads}')

import numpy as np  # noqa: E402
import keras  # noqa: E402


def idx(name, offset):
    with open(os.path.join(mnist_dir, name), 'rb') as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


x_train = idx('train-images-idx3-ubyte', 16).reshape(-1, 784).astype('float32') / 255
x_test = idx('t10k-images-idx3-ubyte', 16).reshape(-1, 784).astype('float32') / 255
y_train = keras.utils.to_categorical(idx('train-labels-idx1-ubyte', 8), 10)
y_test = keras.utils.to_categorical(idx('t10k-labels-idx1-ubyte', 8), 10)
keras.utils.set_random_seed(42)
model = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(512, activation='relu'), keras.layers.Dense(10, activation='softmax')])
model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])


class Timing(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_test_begin(self, logs=None):
        self.train_s = time.perf_counter() - self.t0

    def on_epoch_end(self, epoch, logs=None):
        print(json.dumps({'peer': f'keras-{keras.backend.backend()}', 'threads': threads, 'epoch': epoch + 1, 'trainSeconds': self.train_s,
                          'samplesPerSec': len(x_train) / self.train_s, 'valAcc': logs['val_accuracy'],
                          'version': keras.__version__, 'peakRssMb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)


model.fit(x_train, y_train, epochs=epochs, batch_size=128, validation_data=(x_test, y_test), verbose=0, callbacks=[Timing()])
