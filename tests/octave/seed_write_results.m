function seed_write_results(out_dir, W1, b1, W2, b2, W3, b3, val_loss, elapsed)
% SEED_WRITE_RESULTS  Write the final parameters, the per-epoch validation losses and the time.
%
% out_dir/{W1,b1,W2,b2,W3,b3}.txt  as seed_read_params reads them ('%.17g': exact for float64);
% out_dir/val_loss.txt             one line per epoch (NaN where the loss was not evaluated);
% out_dir/elapsed.txt              seconds between the seed's tic and toc.
if ~exist(out_dir, 'dir')
  mkdir(out_dir);
end
fmt = '%.17g';
dlmwrite(fullfile(out_dir, 'W1.txt'), W1, 'precision', fmt);
dlmwrite(fullfile(out_dir, 'b1.txt'), b1, 'precision', fmt);
dlmwrite(fullfile(out_dir, 'W2.txt'), W2, 'precision', fmt);
dlmwrite(fullfile(out_dir, 'b2.txt'), b2, 'precision', fmt);
dlmwrite(fullfile(out_dir, 'W3.txt'), W3, 'precision', fmt);
dlmwrite(fullfile(out_dir, 'b3.txt'), b3, 'precision', fmt);
dlmwrite(fullfile(out_dir, 'val_loss.txt'), val_loss(:), 'precision', fmt);
dlmwrite(fullfile(out_dir, 'elapsed.txt'), elapsed, 'precision', fmt);
end
