# frozen_string_literal: true

require "pg"
require "uri"

# A PostgreSQL database of its own for each test, on the server bin/test
# starts (HOLDFAST_TEST_POSTGRES_URL), created in setup and dropped in
# teardown; the backend's processes get it as DATABASE_URL.
module PostgresDatabase
  def setup
    super
    @database = "holdfast_#{adapter}_#{Process.pid}_#{name[/\w{1,20}\z/]}".downcase
    admin { |db| db.exec("CREATE DATABASE #{db.quote_ident(@database)}") }
  end

  def teardown
    super
    admin { |db| db.exec("DROP DATABASE IF EXISTS #{db.quote_ident(@database)} WITH (FORCE)") }
  end

  def env
    super.merge("DATABASE_URL" => database_url)
  end

  def server_url
    ENV.fetch("HOLDFAST_TEST_POSTGRES_URL") { flunk "HOLDFAST_TEST_POSTGRES_URL is not set (bin/test starts the server)" }
  end

  def database_url
    URI(server_url).tap { |uri| uri.path = "/#{@database}" }.to_s
  end

  # Rows of +sql+ ($1... binds) in the test's database, as Arrays.
  def rows(sql, *binds)
    db = PG.connect(database_url)
    db.exec_params(sql, binds).values
  ensure
    db&.close
  end

  def admin
    db = PG.connect(server_url)
    yield db
  ensure
    db&.close
  end
end
