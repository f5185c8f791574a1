function seed_first_step(train_csv, init_dir, out_dir)
% SEED_FIRST_STEP  The intermediates of the seed's first backpropagation step (rows 1-32).
%
% Writes out_dir/{z1,z2,z3,delta3,delta2,delta1,dW3,db3,dW2,db2,dW1,db1}.txt ('%.17g'), so that
% another implementation can find the first operation whose floating-point result differs
% (scripts/octave_check.py --diagnose). The arithmetic is seed_backprop.m's, line for line.
batch_size = 32;
data_train = dlmread(train_csv, ',', 1, 0);
X = data_train(:, 1:end-1);
y = data_train(:, end);
[W1, b1, W2, b2, W3, b3] = seed_read_params(init_dir);
ReLU = @(x) max(0, x);
ReLU_deriv = @(x) x > 0;

x = X(1:batch_size, :)';
y_true = y(1:batch_size)';
z1 = W1 * x + b1;
a1 = ReLU(z1);
z2 = W2 * a1 + b2;
a2 = ReLU(z2);
z3 = W3 * a2 + b3;
error = z3 - y_true;
delta3 = 2/batch_size * (error);
dW3 = delta3 * a2';
db3 = sum(delta3, 2);
delta2 = (W3' * delta3) .* ReLU_deriv(z2);
dW2 = delta2 * a1';
db2 = sum(delta2, 2);
delta1 = (W2' * delta2) .* ReLU_deriv(z1);
dW1 = delta1 * x';
db1 = sum(delta1, 2);

if ~exist(out_dir, 'dir')
  mkdir(out_dir);
end
names = {'z1', 'z2', 'z3', 'delta3', 'delta2', 'delta1', 'dW3', 'db3', 'dW2', 'db2', 'dW1', 'db1'};
values = {z1, z2, z3, delta3, delta2, delta1, dW3, db3, dW2, db2, dW1, db1};
for k = 1:numel(names)
  dlmwrite(fullfile(out_dir, [names{k} '.txt']), values{k}, 'precision', '%.17g');
end
end
