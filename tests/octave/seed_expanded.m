function seed_expanded(train_csv, test_csv, init_dir, perm_file, out_dir, num_epochs, val_every)
% SEED_EXPANDED  The seed's expanded-gradient training loop (§1.2), made replayable.
%
%   seed_expanded(train_csv, test_csv, init_dir, perm_file, out_dir, num_epochs[, val_every])
%
% The loop of the seed project's MATLAB script for the expanded gradients: the same network,
% data, learning rate, batches and validation as seed_backprop, but each gradient is the
% §1.2 formula written out in full (recomputing the forward pass inside each one), and the
% training rows are reshuffled after every epoch, so the permutations compose.
%
% What differs from the seed's script (none of it changes the arithmetic of training):
%   * as in seed_backprop: initial weights from init_dir, dlmread, val_every;
%   * the seed shuffles with  data_train = data_train(randperm(size(data_train, 1)), :);
%     here the permutation of epoch e is row e of perm_file: comma-separated text, one row per
%     epoch, n_rows 0-based row indices (handgrad's PERMS.npy layout), applied to the rows as
%     already permuted right after epoch e; so epoch 1 runs in file order and the last row used
%     has no effect on the weights.
%
% NOTE: the seed writes error = y_true - y_pred, so its formulas give -dJ/dW and it updates
% with W = W + learning_rate * dW. IEEE negation is exact and rounding to nearest is symmetric,
% so this is bit-for-bit the same as error = y_pred - y_true with W = W - learning_rate * dW.
if nargin < 7
  val_every = 1;
end

learning_rate = 1e-4;
batch_size = 32;

data_train = dlmread(train_csv, ',', 1, 0);
X = data_train(:, 1:end-1);
y = data_train(:, end);
data_valid = dlmread(test_csv, ',', 1, 0);
x_valid = data_valid(:, 1:end-1);
y_valid = data_valid(:, end);

[W1, b1, W2, b2, W3, b3] = seed_read_params(init_dir);

perms = dlmread(perm_file) + 1;   % 0-based in the file, 1-based in Octave
if size(perms, 1) < num_epochs || size(perms, 2) ~= size(X, 1)
  error('seed_expanded: %s holds a %dx%d permutation table; need %d epochs x %d rows', ...
        perm_file, size(perms, 1), size(perms, 2), num_epochs, size(X, 1));
end

ReLU = @(x) max(0, x);
ReLU_deriv = @(x) x > 0;
loss = @(error) sum((error).^2);

val_loss = nan(num_epochs, 1);

tic
for epoch = 1:num_epochs

  for i = 1:batch_size:size(X, 1)
    batch_end = min(i + batch_size - 1, size(X, 1));

    x = X(i:batch_end, :)';
    y_true = y(i:batch_end)';
    y_pred = W3 * ReLU(W2 * ReLU(W1 * x + b1) + b2) + b3;

    error = y_true - y_pred;

    % The six §1.2 formulas, literally (2/batch_size also on the last, partial batch)
    dW3 = 2/batch_size * (error) * ReLU(W2 * ReLU(W1 * x + b1) + b2)';
    db3 = 2/batch_size * sum((error), 2);

    dW2 = 2/batch_size * (W3' * (error)) .* ReLU_deriv(W2 * ReLU(W1 * x + b1) + b2) * ReLU(W1 * x + b1)';
    db2 = 2/batch_size * sum((W3' * (error)) .* ReLU_deriv(W2 * ReLU(W1 * x + b1) + b2), 2);

    dW1 = 2/batch_size * (W2' * (W3' * (error) .* ReLU_deriv(W2 * ReLU(W1 * x + b1) + b2))) .* ReLU_deriv(W1 * x + b1) * x';
    db1 = 2/batch_size * sum((W2' * (W3' * (error) .* ReLU_deriv(W2 * ReLU(W1 * x + b1) + b2))) .* ReLU_deriv(W1 * x + b1), 2);

    % error = y_true - y_pred: these are -dJ/dW, hence the '+'
    W3 = W3 + learning_rate * dW3;
    b3 = b3 + learning_rate * db3;

    W2 = W2 + learning_rate * dW2;
    b2 = b2 + learning_rate * db2;

    W1 = W1 + learning_rate * dW1;
    b1 = b1 + learning_rate * db1;
  end
  % Shuffle the training rows (the seed: randperm; here the caller's permutation of this epoch)
  perm = perms(epoch, :);
  X = X(perm, :);
  y = y(perm);

  if mod(epoch, val_every) == 0 || mod(epoch, 10) == 0
    y_pred = W3 * ReLU(W2 * ReLU(W1 * x_valid' + b1) + b2) + b3;
    val_loss(epoch) = loss(y_pred - y_valid') / size(y_valid, 1);
  end
  if mod(epoch, 10) == 0
    fprintf('Epoch %d, Validation Loss: %.4f\n', epoch, val_loss(epoch));
  end
end
elapsed = toc;
fprintf('Elapsed time is %g seconds.\n', elapsed);

seed_write_results(out_dir, W1, b1, W2, b2, W3, b3, val_loss, elapsed);
end
