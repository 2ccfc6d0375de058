# Evaluates a Vagrantfile against a stand-in for Vagrant's configuration
# object and prints, as JSON, what it defines for each VM: its networks and
# provisioners, in order. No provider, no VM: `vagrant validate` does not show
# addresses or scripts, and no VM can boot where the tests run.
#
#   ruby vagrant_dump.rb VAGRANTFILE
require "json"

# Machine is config.vm and each node.vm: it records what the tests check and
# accepts (and forgets) every other setting.
class Machine
  attr_reader :defines, :networks, :provisions

  def initialize
    @defines = {}
    @networks = []
    @provisions = []
  end

  def define(name)
    node = Config.new
    yield node
    @defines[name] = node.vm
  end

  def network(type, **opts)
    @networks << opts.merge(type: type)
  end

  def provision(type, **opts)
    @provisions << opts.merge(type: type)
  end

  def method_missing(_name, *_args, **_opts); end

  def respond_to_missing?(*)
    true
  end
end

class Config
  def vm
    @vm ||= Machine.new
  end
end

module Vagrant
  class << self
    attr_reader :config

    def configure(_version)
      @config = Config.new
      yield @config
    end
  end
end

load ARGV.fetch(0)
puts JSON.generate(Vagrant.config.vm.defines.transform_values { |vm| { networks: vm.networks, provisions: vm.provisions } })
