function seed_backprop(train_csv, test_csv, init_dir, out_dir, num_epochs, val_every)
% SEED_BACKPROP  The seed's backpropagation training loop (§1.3), made replayable.
%
%   seed_backprop(train_csv, test_csv, init_dir, out_dir, num_epochs[, val_every])
%
% The loop of the seed project's MATLAB script for backpropagation (the §1.3 code of the
% seed document, with the hyper-parameters and the experiment of ../shared/data/DATA.md):
% 37 -> 128 -> 64 -> 1, ReLU, MSE, plain mini-batch SGD, learning rate 1e-4, batch 32 in file
% order, NO shuffling, the gradient scaled by 2/batch_size also on the last, partial batch
% (10,000 = 312*32 + 16), parameters updated W3, b3, W2, b2, W1, b1 from gradients all
% computed before the first update, validation loss = sum of squared errors / rows,
% printed every 10 epochs, tic/toc around the whole training.
%
% What differs from the seed's script (none of it changes the arithmetic of training):
%   * the initial weights are read from init_dir (seed_read_params) instead of randn/zeros,
%     so that another implementation can start from the very same numbers;
%   * the CSV files are read with dlmread (Octave 7 has no readmatrix); the features are all
%     columns but the last and the target is the last column: for house, the seed's
%     X = data(:, 1:37) (the 'dummy' column of ones included) and y = data(:, 38);
%   * the validation loss is evaluated every val_every epochs (default 1) and written to
%     out_dir with the final weights and the elapsed time (seed_write_results). The seed
%     evaluates it every 10 epochs only; val_every = 10 runs the seed's loop exactly, and
%     evaluating it more often does not touch the weights.
if nargin < 6
  val_every = 1;
end

% Hyper-parameters (the seed's)
learning_rate = 1e-4;
batch_size = 32;

% Data: one header row, comma-separated numbers
data_train = dlmread(train_csv, ',', 1, 0);
X = data_train(:, 1:end-1);
y = data_train(:, end);
data_valid = dlmread(test_csv, ',', 1, 0);
x_valid = data_valid(:, 1:end-1);
y_valid = data_valid(:, end);

% Initial weights (the seed: W = randn(n_l, n_{l-1}), b = zeros(n_l, 1))
[W1, b1, W2, b2, W3, b3] = seed_read_params(init_dir);

ReLU = @(x) max(0, x);
ReLU_deriv = @(x) x > 0;
loss = @(error) sum((error).^2);

val_loss = nan(num_epochs, 1);

tic
for epoch = 1:num_epochs

  for i = 1:batch_size:size(X, 1)
    batch_end = min(i + batch_size - 1, size(X, 1));

    % Forward pass (§1.3): one column per sample
    x = X(i:batch_end, :)';
    y_true = y(i:batch_end)';

    z1 = W1 * x + b1;
    a1 = ReLU(z1);

    z2 = W2 * a1 + b2;
    a2 = ReLU(z2);

    z3 = W3 * a2 + b3;
    y_pred = z3;

    error = y_pred - y_true;

    % dJ/dY = 2/N (Y_hat - Y) with N = batch_size, NOTE: also on the last batch of 16 rows
    delta3 = 2/batch_size * (error);

    dW3 = delta3 * a2';
    db3 = sum(delta3, 2);

    delta2 = (W3' * delta3) .* ReLU_deriv(z2);

    dW2 = delta2 * a1';
    db2 = sum(delta2, 2);

    delta1 = (W2' * delta2) .* ReLU_deriv(z1);

    dW1 = delta1 * x';
    db1 = sum(delta1, 2);

    % Update, last layer first, every gradient computed above from the old parameters
    W3 = W3 - learning_rate * dW3;
    b3 = b3 - learning_rate * db3;

    W2 = W2 - learning_rate * dW2;
    b2 = b2 - learning_rate * db2;

    W1 = W1 - learning_rate * dW1;
    b1 = b1 - learning_rate * db1;
  end

  if mod(epoch, val_every) == 0 || mod(epoch, 10) == 0
    y_pred = W3 * ReLU(W2 * ReLU(W1 * x_valid' + b1) + b2) + b3;
    val_loss(epoch) = loss(y_valid' - y_pred) / size(y_valid, 1);
  end
  % The seed prints the validation loss every 10 epochs
  if mod(epoch, 10) == 0
    fprintf('Epoch %d, Validation Loss: %.4f\n', epoch, val_loss(epoch));
  end
end
elapsed = toc;
fprintf('Elapsed time is %g seconds.\n', elapsed);

seed_write_results(out_dir, W1, b1, W2, b2, W3, b3, val_loss, elapsed);
end
