# frozen_string_literal: true

require "fileutils"

# The job backends Debian does not package (Solid Queue, GoodJob, fugit),
# from the source tarballs in ../shared/vendor/backends (or
# HOLDFAST_BACKENDS_VENDOR), extracted once under tmp/backends (bin/matrix
# does it before a lane starts: a Debian 13 lane cannot see the vendor
# folder) and put on the load path of the processes that run them.
module BackendVendor
  ROOT = File.expand_path("../..", __dir__)
  TREES = { "solid_queue" => %w[solid_queue fugit], "good_job" => %w[good_job fugit] }.freeze

  module_function

  def folder
    candidates = [ENV["HOLDFAST_BACKENDS_VENDOR"], File.join(ROOT, "../shared/vendor/backends"), "/work/shared/vendor/backends"]
    candidates.compact.find { |dir| !Dir[File.join(dir, "*.tar.gz")].empty? } or
      raise "the vendored job backends (solid_queue-*.tar.gz, good_job-*.tar.gz) were not found; " \
            "set HOLDFAST_BACKENDS_VENDOR to the folder that holds them"
  end

  # The lib folder of +name+'s newest tree, extracted if needed.
  def lib(name)
    dest = File.join(ROOT, "tmp", "backends")
    extracted = Dir[File.join(dest, "#{name}-*", "lib")].max_by { |f| Gem::Version.new(f[%r{-(\d[\d.]*)/lib\z}, 1]) }
    return extracted if extracted

    tarball = Dir[File.join(folder, "#{name}-*.tar.gz")].max_by { |f| Gem::Version.new(f[/-(\d[\d.]*)\.tar\.gz\z/, 1]) } or
      raise "no #{name}-<version>.tar.gz in #{folder}"
    tree = File.join(dest, File.basename(tarball, ".tar.gz"))
    unless File.directory?(File.join(tree, "lib"))
      FileUtils.mkdir_p(dest)
      system("tar", "-xzf", tarball, "-C", dest, exception: true)
    end
    File.join(tree, "lib")
  end

  # RUBYOPT for a process that runs +adapter+ (the lane's own RUBYOPT first).
  def rubyopt(adapter)
    extra = TREES.fetch(adapter, []).map { |name| "-I#{lib(name)}" }
    [ENV["RUBYOPT"], *extra].compact.join(" ")
  end

  def version(name)
    File.basename(File.dirname(lib(name)))
  end
end
