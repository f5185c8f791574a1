function [W1, b1, W2, b2, W3, b3] = seed_read_params(init_dir)
% SEED_READ_PARAMS  Read the seed network's parameters from init_dir/{W1,b1,W2,b2,W3,b3}.txt.
%
% Each file is comma-separated text written with 17 significant digits ('%.17g'), which
% round-trips a float64 exactly: W_l is an n_l-by-n_{l-1} matrix (one matrix row per line),
% b_l a column of n_l values (one per line), as the seed stores them.
% This replaces the seed's  W1 = randn(hidden_size1, input_size); b1 = zeros(hidden_size1, 1); ...
W1 = dlmread(fullfile(init_dir, 'W1.txt'));
b1 = dlmread(fullfile(init_dir, 'b1.txt'));
W2 = dlmread(fullfile(init_dir, 'W2.txt'));
b2 = dlmread(fullfile(init_dir, 'b2.txt'));
W3 = dlmread(fullfile(init_dir, 'W3.txt'));
b3 = dlmread(fullfile(init_dir, 'b3.txt'));
% NOTE: a bias written as one value per line reads back as a column (n_l x 1); force it anyway,
% so that a bias written on one line cannot silently broadcast W*x + b into a matrix.
b1 = b1(:); b2 = b2(:); b3 = b3(:);
end
