# frozen_string_literal: true

# A SQLite store on a disk that fills up and frees again, on a real (small)
# tmpfs: errors while full, reads still work, and once space is back no job
# gets an old error and every job's newest progress is on disk.
#
#   ruby -Ilib test/faults/disk_full_test.rb   (as root: it mounts a tmpfs in
#   a private mount namespace, which it enters itself)

if Process.uid.zero? && !ENV["HOLDFAST_FAULTS_UNSHARED"]
  ENV["HOLDFAST_FAULTS_UNSHARED"] = "1"
  exec("unshare", "--mount", "--propagation", "private", RbConfig.ruby, *$LOAD_PATH.grep(%r{/lib\z}).map { |l| "-I#{l}" },
       __FILE__, *ARGV)
end

require "minitest/autorun"
require "tmpdir"
require "holdfast"

class DiskFullTest < Minitest::Test
  JOBS = 10

  def setup
    flunk "the disk-full test mounts a tmpfs and must run as root (bin/test runs it so)" unless Process.uid.zero?
    @dir = Dir.mktmpdir("holdfast-disk-full")
    system("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", @dir, exception: true)
  end

  def teardown
    system("umount", "--lazy", @dir) if @dir
    FileUtils.rm_rf(@dir) if @dir
  end

  # Writes until the tmpfs has no room left; returns the file that filled it.
  def fill_disk
    path = File.join(@dir, "filler")
    File.open(path, "wb") do |file|
      loop { file.syswrite("x" * 4096) }
    rescue Errno::ENOSPC
      nil
    end
    path
  end

  def cursor(job, phase) = "[#{phase}, #{"x" * 2000}, #{job}]"

  def run_full_disk(durability)
    path = File.join(@dir, "store.sqlite3")
    store = Holdfast::Store.sqlite(path, durability: durability)
    executions = Array.new(JOBS) { |i| store.begin_execution("job-#{i}", "ImportJob") }
    executions.each_with_index { |e, i| e.checkpoint(current: ["import", cursor(i, 0)]) }
    store.flush
    filler = fill_disk

    failures = executions.each_with_index.count do |e, i|
      e.checkpoint(current: ["import", cursor(i, 1)])
      false
    rescue Holdfast::StoreError => error
      assert_match(/\ASQLite store #{Regexp.escape(path)}: the disk is full/, error.message)
      true
    end
    flushed = begin
      store.flush
      nil
    rescue Holdfast::StoreError => error
      error
    end
    refute_nil flushed, "flush must say the progress is not on disk"
    assert_match(/the disk is full/, flushed.message)
    assert_equal JOBS, failures if durability == :every_checkpoint

    # Reading still works while the disk is full, from a second store too.
    reader = Holdfast::Store.sqlite(path)
    assert_equal ["import", cursor(3, 0)], reader.get("job-3")["current"]
    reader.close

    File.delete(filler)
    executions.each_with_index do |e, i|
      e.checkpoint(current: ["import", cursor(i, 2)])
    end
    store.close
    fresh = Holdfast::Store.sqlite(path)
    JOBS.times { |i| assert_equal ["import", cursor(i, 2)], fresh.get("job-#{i}")["current"], "job-#{i}" }
    fresh.close
  end

  def test_every_checkpoint_raises_while_full_then_writes_without_stale_errors
    run_full_disk(:every_checkpoint)
  end

  def test_write_behind_reports_at_flush_then_writes_without_stale_errors
    run_full_disk({ interval: 20 })
  end
end
