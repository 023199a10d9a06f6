using System.Text;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>
/// The machines file, the client's files and the NixOS snippet as rendered; outputs captured from
/// real Nix 2.8 hosts (Fixtures/builders) as read; and the host script's own guards, run locally
/// where they refuse before doing anything.
/// </summary>
public sealed class BuildersTests
{
    const string Key = "/root/.ssh/nixfleet-builder_ed25519";
    const string Ed25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILPpvB4ThvMewCLiRwtUpiDNnCTF8hWiTQPOj11dnd8a";
    static readonly string Ed25519Base64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(Ed25519));

    static string Fixture(string name) => File.ReadAllText(TestContext.FixturePath("builders", name));

    static RemoteBuilder Builder(string id = "b1", string address = "10.0.0.5", int port = 22, IReadOnlyList<string>? supported = null) =>
        new(id, address, port, "builder", ["x86_64-linux"], 2, 1, supported ?? [], [], Ed25519);

    static BuildMachine Machine(IReadOnlyList<string> systems, string? key, int jobs, int speed, IReadOnlyList<string> supported, IReadOnlyList<string> mandatory, string? hostKey) =>
        new("ssh", "builder", "10.0.0.5", systems, key, jobs, speed, supported, mandatory, hostKey);

    public static TheoryData<BuildMachine, string> Lines => new()
    {
        { Machine(["x86_64-linux"], Key, 2, 1, [], [], "SGk="), $"ssh://builder@10.0.0.5 x86_64-linux {Key} 2 1 - - SGk=" },
        { Machine(["x86_64-linux", "aarch64-linux"], Key, 8, 4, ["kvm", "big-parallel"], ["benchmark"], "SGk="),
            $"ssh://builder@10.0.0.5 x86_64-linux,aarch64-linux {Key} 8 4 kvm,big-parallel benchmark SGk=" },
        { Machine([], null, 1, 1, [], [], null), "ssh://builder@10.0.0.5 - - 1 1 - - -" },
        { Machine(["aarch64-darwin"], null, 1, 10, ["nixos-test", "gccarch-armv8-a"], [], null), "ssh://builder@10.0.0.5 aarch64-darwin - 1 10 nixos-test,gccarch-armv8-a - -" },
        { Machine(["x86_64-linux"], Key, 1, 1, [], ["kvm"], null), $"ssh://builder@10.0.0.5 x86_64-linux {Key} 1 1 - kvm -" },
    };

    [Theory]
    [MemberData(nameof(Lines))]
    public void MachinesLine_EveryFieldCombination_RendersEightFields_AndParsesBack(BuildMachine machine, string line)
    {
        Assert.Equal(line, MachinesFile.RenderLine(machine));
        Assert.Equal(8, line.Split(' ').Length);
        var parsed = Assert.Single(MachinesFile.Parse(line));
        Assert.Equal(line, MachinesFile.RenderLine(parsed));
        Assert.Equal(machine.Systems, parsed.Systems);
        Assert.Equal(machine.SupportedFeatures, parsed.SupportedFeatures);
        Assert.Equal(machine.MandatoryFeatures, parsed.MandatoryFeatures);
    }

    [Fact]
    public void Parse_CommentsBlankLinesSemicolonsFewerFieldsAndDashes_AsNixReadsThem()
    {
        var text = """
            # build farm

            ssh://alice@fast x86_64-linux,i686-linux /k 4 2 kvm - SGk=   # the fast one
            slow ; ssh-ng://bob@[fe80::1]	aarch64-linux	-	-	-
            # a comment; ssh://carol@hidden x86_64-linux
            ssh://dave@zero - - 3 0
            """;

        var m = MachinesFile.Parse(text);

        Assert.Equal(["ssh://alice@fast", "ssh://slow", "ssh-ng://bob@[fe80::1]", "ssh://carol@hidden", "ssh://dave@zero"], m.Select(x => x.StoreUri));
        Assert.Equal(("alice", "fast", 4, 2, "SGk="), (m[0].User, m[0].Host, m[0].MaxJobs, m[0].SpeedFactor, m[0].HostKey));
        Assert.Equal(["x86_64-linux", "i686-linux"], m[0].Systems);
        Assert.Equal(["kvm"], m[0].SupportedFeatures);
        // Only a URI: the client's own system, no key, 1 job, speed 1.
        Assert.Equal("ssh://slow - - 1 1 - - -", MachinesFile.RenderLine(m[1]));
        Assert.Equal(("ssh-ng", "bob", "[fe80::1]", null, 1), (m[2].Scheme, m[2].User, m[2].Host, m[2].SshKey, m[2].MaxJobs));
        Assert.Equal(["aarch64-linux"], m[2].Systems);
        // Nix splits at ';' before it strips comments: the part after it is an entry.
        Assert.Equal(["x86_64-linux"], m[3].Systems);
        // A speed factor of 0 is 1 to Nix.
        Assert.Equal((3, 1), (m[4].MaxJobs, m[4].SpeedFactor));
    }

    [Theory]
    [InlineData("ssh://a@b x86_64-linux - four 1")]
    [InlineData("ssh://a@b x86_64-linux - -1 1")]
    [InlineData("ssh://a@b x86_64-linux - 1 1 - - not*base64")]
    [InlineData("@/etc/nix/more-machines")]
    public void Parse_LinesNixRefuses_AreFormatErrors(string line) =>
        Assert.Throws<FormatException>(() => MachinesFile.Parse(line));

    [Fact]
    public void Builder_OnPort22ByIPv4OrName_IsReachedDirectly()
    {
        foreach (var address in new[] { "10.0.0.5", "build1.example.org" })
        {
            var b = Builder(address: address);
            Assert.False(b.NeedsAlias);
            Assert.Equal($"ssh://builder@{address}", b.StoreUri);
            Assert.Empty(b.SshConfigLines);
            Assert.Equal($"{address} {Ed25519}", b.KnownHostsLine);
            Assert.Equal($"ssh://builder@{address} x86_64-linux {Key} 2 1 - - {Ed25519Base64}", MachinesFile.RenderLine(b.Machine));
        }
    }

    [Theory]
    [InlineData("10.0.0.5", 2222)]
    [InlineData("build1.example.org", 2200)]
    [InlineData("2001:db8::5", 22)]
    [InlineData("::1", 2209)]
    public void Builder_OnAnotherPortOrIPv6_IsReachedThroughAnAliasWithItsOwnHostKeyAlias(string address, int port)
    {
        var b = Builder(id: "0F1e-2", address: address, port: port);

        Assert.True(b.NeedsAlias);
        Assert.Equal("ssh://builder@nixfleet-builder-0f1e-2", b.StoreUri);
        Assert.Equal(["Host nixfleet-builder-0f1e-2", $"  HostName {address}", $"  Port {port}", "  HostKeyAlias nixfleet-builder-0f1e-2"], b.SshConfigLines);
        Assert.Equal($"nixfleet-builder-0f1e-2 {Ed25519}", b.KnownHostsLine);
        Assert.Equal($"ssh://builder@nixfleet-builder-0f1e-2 x86_64-linux {Key} 2 1 - - {Ed25519Base64}", MachinesFile.RenderLine(b.Machine));
        // The URI never carries a port or brackets: Nix 2.8 would hand them to ssh as part of the host name.
        Assert.DoesNotContain(':', b.StoreUri["ssh://".Length..]);
    }

    [Theory]
    [InlineData("a b")]
    [InlineData("x;y")]
    [InlineData("-oProxyCommand")]
    [InlineData("")]
    public void Builder_IdThatCannotNameAnAlias_IsRefused(string id) =>
        Assert.Throws<InvalidOperationException>(() => Builder(id: id, port: 2222).Alias);

    [Fact]
    public void Input_FramesMachinesAliasesAndKnownHosts_ForTheScript()
    {
        var input = BuildersConfig.Input([Builder(supported: ["kvm", "big-parallel"]), Builder(id: "b2", address: "2001:db8::5")]);

        Assert.Equal($"""
            @@machines
            |ssh://builder@10.0.0.5 x86_64-linux {Key} 2 1 kvm,big-parallel - {Ed25519Base64}
            |ssh://builder@nixfleet-builder-b2 x86_64-linux {Key} 2 1 - - {Ed25519Base64}
            @@ssh-config
            |Host nixfleet-builder-b2
            |  HostName 2001:db8::5
            |  Port 22
            |  HostKeyAlias nixfleet-builder-b2
            @@known-hosts
            |10.0.0.5 {Ed25519}
            |nixfleet-builder-b2 {Ed25519}

            """, input);
        // The sections read back as the parsers read the script's own output.
        var machines = FactsParser.ReadSections(input).Single(s => s.Name == "machines");
        Assert.Equal(2, MachinesFile.Parse(machines.Text).Count);
    }

    [Fact]
    public void NixOsSnippet_HasTheBuildMachinesDistributedBuildsAndTheAliases()
    {
        var snippet = NixOsSnippet.Render([Builder(supported: ["kvm"]), Builder(id: "b2", address: "10.0.0.6", port: 2222)], new BuildersOptions(MaxJobs: 0, UseSubstitutes: true));

        Assert.Equal($$"""
            # Remote builders (NixFleet). /etc/nix is generated on NixOS: add this to configuration.nix, then nixos-rebuild switch.
            nix.distributedBuilds = true;
            nix.settings.builders-use-substitutes = true;
            nix.settings.max-jobs = 0;
            nix.buildMachines = [
              {
                hostName = "10.0.0.5";
                sshUser = "builder";
                sshKey = "{{Key}}";
                systems = [ "x86_64-linux" ];
                maxJobs = 2;
                speedFactor = 1;
                supportedFeatures = [ "kvm" ];
                mandatoryFeatures = [ ];
                publicHostKey = "{{Ed25519Base64}}";
              }
              {
                hostName = "nixfleet-builder-b2";
                sshUser = "builder";
                sshKey = "{{Key}}";
                systems = [ "x86_64-linux" ];
                maxJobs = 2;
                speedFactor = 1;
                supportedFeatures = [ ];
                mandatoryFeatures = [ ];
                publicHostKey = "{{Ed25519Base64}}";
              }
            ];
            programs.ssh.extraConfig = ''
              Host nixfleet-builder-b2
                HostName 10.0.0.6
                Port 2222
                HostKeyAlias nixfleet-builder-b2
            '';

            """, snippet);
    }

    [Fact]
    public void NixOsSnippet_WithoutMaxJobsOrAliases_LeavesThemOut()
    {
        var snippet = NixOsSnippet.Render([Builder()], new BuildersOptions());
        Assert.Contains("nix.settings.builders-use-substitutes = false;", snippet);
        Assert.DoesNotContain("max-jobs", snippet);
        Assert.DoesNotContain("programs.ssh", snippet);
    }

    [Theory]
    [InlineData("nix-store-ping-unreachable.txt", BuilderErrors.Unreachable, "unreachable: ssh: connect to host 127.0.0.205 port 22: Connection refused")]
    [InlineData("nix-build-unreachable.txt", BuilderErrors.Unreachable, "unreachable: cannot build on 'ssh://builder@127.0.0.205'")]
    [InlineData("nix-store-ping-port-in-uri.txt", BuilderErrors.Unreachable, "Could not resolve hostname 127.0.0.209:2222")]
    [InlineData("nix-store-ping-key-refused.txt", BuilderErrors.KeyRefused, "key-refused: builder on the builder does not accept the client's key (add it to builder's authorized_keys): builder@127.0.0.208: Permission denied (publickey).")]
    [InlineData("nix-store-ping-host-key-changed.txt", BuilderErrors.HostKey, "host-key: the builder showed a host key other than the one pinned for it (reinstalled, or someone in between): WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!")]
    [InlineData("nix-store-ping-no-host-key.txt", BuilderErrors.HostKey, "host-key: ssh could not verify the builder's host key: Host key verification failed.")]
    [InlineData("nix-store-ping-alias-port-without-hostkeyalias.txt", BuilderErrors.HostKey, "Host key verification failed.")]
    [InlineData("nix-build-unsigned-input.txt", BuilderErrors.NotTrusted, "not-trusted: the builder's Nix does not trust builder (add it to trusted-users there): error: cannot add path '/nix/store/rzx8h8q7hf07pzl1nfiddlyrwhns4fc1-nixfleet-dep' because it lacks a valid signature")]
    public void Classify_RealNixAndSshOutput_NamesTheFailure(string fixture, string kind, string message)
    {
        var error = BuilderErrors.Classify(Fixture(fixture), "builder");
        Assert.Equal(kind, error.Kind);
        Assert.StartsWith(kind + ": ", error.Message);
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void Classify_SomethingElse_IsOther_WithNixsLastError()
    {
        var error = BuilderErrors.Classify("copying 0 paths...\nerror: unexpected end-of-file\nerror: builder for 'x.drv' failed with exit code 2\n", "builder");
        Assert.Equal(new BuilderError(BuilderErrors.Other, "other: error: builder for 'x.drv' failed with exit code 2"), error);
    }

    static RemoteBuilder At(string id, string address) => new(id, address, 22, "builder", ["x86_64-linux"], 1, 1, [], [], Ed25519);

    [Fact]
    public void ReadVerify_AnOffloadedBuild_RanOnTheBuilder_WithItsTimeAndOutput()
    {
        var v = Assert.Single(BuildersScript.ReadVerify(Fixture("verify-ok.txt"), [At("b", "127.0.0.208")]));

        Assert.True(v.Succeeded, v.Error);
        Assert.Equal((true, (bool?)true, true, "bxb"), (v.Reachable, v.Trusted, v.BuildSucceeded, v.RanOn));
        Assert.Equal("/nix/store/75y5d3icwi7886ij2j2jg8kdm0nrb9bz-nixfleet-builder-check", v.OutputPath);
        Assert.InRange(v.Seconds!.Value, 0.01, 30);
        Assert.Null(v.ErrorKind);
    }

    [Fact]
    public void ReadVerify_UnreachableKeyRefusedAndWrongHostKey_AreEachNamed_AndNotBuilt()
    {
        var builders = new[] { At("refused", "127.0.0.209"), At("down", "127.0.0.205"), new RemoteBuilder("wrongkey", "127.0.0.208", 2222, "builder", ["x86_64-linux"], 1, 1, [], [], Ed25519) };
        // The capture's alias used port 22; the URI is what matters here.
        var v = BuildersScript.ReadVerify(Fixture("verify-failures.txt"), builders);

        Assert.Equal([BuilderErrors.KeyRefused, BuilderErrors.Unreachable, BuilderErrors.HostKey], v.Select(x => x.ErrorKind));
        Assert.All(v, x => Assert.False(x.Reachable || x.BuildSucceeded || x.Trusted is not null || x.Seconds is not null));
        Assert.Contains("Permission denied (publickey)", v[0].Error);
        Assert.Contains("Connection refused", v[1].Error);
        Assert.Contains("REMOTE HOST IDENTIFICATION HAS CHANGED", v[2].Error);
    }

    [Fact]
    public void ReadVerify_UserNotTrusted_IsReachableButNotTrusted()
    {
        var v = Assert.Single(BuildersScript.ReadVerify(Fixture("verify-not-trusted.txt"), [At("b", "127.0.0.209")]));

        Assert.Equal((true, (bool?)false, false), (v.Reachable, v.Trusted, v.BuildSucceeded));
        Assert.Equal(BuilderErrors.NotTrusted, v.ErrorKind);
        Assert.Contains("you are not privileged to build input-addressed derivations", v.Error);
        Assert.NotNull(v.Seconds);
    }

    [Fact]
    public void ReadVerify_ABuilderNotInTheMachinesFile_OrABuildThatWasNotOffloaded_Fails()
    {
        var ok = Fixture("verify-ok.txt");
        var missing = Assert.Single(BuildersScript.ReadVerify(ok + "\n@@missing ssh://builder@10.9.9.9\n", [At("x", "10.9.9.9")]));
        Assert.Contains("not in /etc/nix/machines", missing.Error);

        var local = Assert.Single(BuildersScript.ReadVerify(ok.Replace(" on 'ssh://builder@127.0.0.208'...", "...", StringComparison.Ordinal), [At("b", "127.0.0.208")]));
        Assert.False(local.Succeeded);
        Assert.Contains("Nix did not build on ssh://builder@127.0.0.208", local.Error);

        var unused = Assert.Single(BuildersScript.ReadVerify(ok.Replace("|builders = @/etc/nix/machines", "|builders = ", StringComparison.Ordinal), [At("b", "127.0.0.208")]));
        Assert.True(unused.BuildSucceeded);
        Assert.Contains("does not read /etc/nix/machines", unused.Error);
    }

    [Fact]
    public void ReadKey_ThePublicKeyAndItsMode()
    {
        var key = BuildersScript.ReadKey(Fixture("key.txt"));
        Assert.Equal("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILqzVpmMj2Xzm8DzRWpYdqmYRGpA+PS8kHKAtHka2lxW nixfleet-builders@bxc", key.PublicKey);
        Assert.Equal("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILqzVpmMj2Xzm8DzRWpYdqmYRGpA+PS8kHKAtHka2lxW", key.Key.Line);
        Assert.Equal("600 root:root", key.Mode);
        Assert.False(key.IsNixOS);
    }

    [Fact]
    public void Options_HostMaxJobs_From0To1024()
    {
        Assert.Empty(new BuildersOptions(0).Errors());
        Assert.Empty(new BuildersOptions(1024).Errors());
        Assert.Contains("maxJobs", new BuildersOptions(-1).Errors().Keys);
        Assert.Contains("maxJobs", new BuildersOptions(1025).Errors().Keys);
    }

    [Fact]
    public void Commands_CarryEveryValueAsAnArgument()
    {
        var key = OpenSshPublicKey.Parse(Ed25519)!;
        Assert.Equal(["authorize", "user=builder", "client=web-1", $"key={Ed25519}"], BuildersScript.Authorize("builder", "web-1", key).Skip(4));
        Assert.Equal(["apply", "substitutes=true", "max-jobs=0"], BuildersScript.Apply(new BuildersOptions(0, true)).Skip(4));
        Assert.Equal(["apply", "substitutes=false"], BuildersScript.Apply(new BuildersOptions()).Skip(4));
        Assert.Equal(["verify", "nonce=abc", "uri=ssh://builder@10.0.0.5"], BuildersScript.Verify("abc", ["ssh://builder@10.0.0.5"]).Skip(4));
        Assert.Equal(BuildersScript.Text, BuildersScript.Key()[2]);
    }

    /// <summary>Answers each action of the script with a canned result: the runner's decisions without hosts.</summary>
    sealed class CannedShell(Func<string, CommandResult> answer) : IRemoteShell
    {
        public List<string> Actions { get; } = [];

        public Task<CommandResult> RunAsync(IReadOnlyList<string> argv, Func<OutputLine, ValueTask>? onLine = null, string? stdin = null, CancellationToken ct = default)
        {
            Actions.Add(argv[4]);
            return Task.FromResult(answer(argv[4]));
        }

        public Task<CommandResult> RunScriptAsync(string script, Func<OutputLine, ValueTask>? onLine = null, string? stdin = null, CancellationToken ct = default) =>
            throw new NotSupportedException();
    }

    [Fact]
    public async Task Runner_AFleetBuilderNixFleetCannotReach_FailsBeforeTouchingTheClientsFiles_AndSaysWhy()
    {
        var client = new CannedShell(action => new CommandResult(0, action == "key" ? Fixture("key.txt") : "nothing to restore", ""));
        var down = new CannedShell(_ => throw new SshException(SshFailure.Unreachable, "ssh: connect to host 10.0.0.5 port 22: Connection refused"));
        var runner = new BuildersRunner(client, "web1", _ => down, new BuildersRunner.Events(_ => { }, _ => ValueTask.CompletedTask));

        var result = await runner.ConfigureAsync([Builder()], new BuildersOptions(), default);

        Assert.Equal(BuildersResult.Failed, result.Outcome);
        Assert.StartsWith("authorizing the key on builder b1 failed: unreachable: NixFleet cannot reach the builder over SSH: ", result.Message);
        Assert.Contains("Connection refused", result.Message);
        Assert.EndsWith("The host's configuration was not touched.", result.Message);
        Assert.Equal(["key"], client.Actions);
    }

    [Fact]
    public async Task Script_IsValidPosixSh()
    {
        var r = await ProcessRunner.RunAsync(["dash", "-n", "-c", BuildersScript.Text]);
        Assert.True(r.Succeeded, r.StdErr);
    }

    /// <summary>
    /// Hostile values never reach a command: the script refuses them before any action (here,
    /// locally, with an action that does not exist, so that passing the guards changes nothing either).
    /// </summary>
    [Theory]
    [InlineData("user=root;touch /tmp/PWNED")]
    [InlineData("user=$(touch /tmp/PWNED)")]
    [InlineData("user=-oProxyCommand=touch")]
    [InlineData("user=builder@evil")]
    [InlineData("user=0day")]
    [InlineData("user=abcdefghijklmnopqrstuvwxyzabcdefg")]
    [InlineData("client=a b")]
    [InlineData("client=../../etc")]
    [InlineData("client=-x")]
    [InlineData("key=ssh-ed25519 AAAA$(touch /tmp/PWNED)")]
    [InlineData("key=ssh-ed25519 AAAAC3Nz\nssh-ed25519 AAAAC3Nz")]
    [InlineData("key=ssh-ed25519 AAAAC3Nz command=\"touch /tmp/PWNED\"")]
    [InlineData("key=ssh-dss AAAAB3NzaC1kc3M=")]
    [InlineData("key=ssh-ed25519")]
    [InlineData("key=ssh-ed25519 !!!!")]
    [InlineData("max-jobs=1;touch /tmp/PWNED")]
    [InlineData("max-jobs=-1")]
    [InlineData("max-jobs=99999")]
    [InlineData("substitutes=yes")]
    [InlineData("nonce=ABC")]
    [InlineData("nonce=a b")]
    [InlineData("uri=ssh://builder@host;touch /tmp/PWNED")]
    [InlineData("uri=ssh://builder@host -oProxyCommand=x")]
    [InlineData("uri=ssh://a@b@c")]
    [InlineData("uri=file:///etc")]
    [InlineData("uri=ssh://builder@-oProxyCommand")]
    [InlineData("surprise=1")]
    public async Task Script_RefusesHostileArguments_BeforeAnyAction(string hostile)
    {
        const string marker = "/tmp/PWNED";
        File.Delete(marker);
        var r = await ProcessRunner.RunAsync(["sh", "-c", BuildersScript.Text, "nixfleet-builders", "no-such-action", hostile]);

        Assert.Equal(1, r.ExitCode);
        Assert.Matches("^nixfleet-builders: (bad [a-z -]+|unknown argument)\n$", r.StdErr);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public async Task Script_WithGoodArguments_PassesItsGuards()
    {
        var r = await ProcessRunner.RunAsync(["sh", "-c", BuildersScript.Text, "nixfleet-builders", "no-such-action",
            "user=builder", "client=web-1.example", $"key={Ed25519}", "max-jobs=0", "substitutes=true", "nonce=abc123",
            "uri=ssh://builder@10.0.0.5", "uri=ssh://nix_b@nixfleet-builder-0f1e"]);
        Assert.Equal("nixfleet-builders: unknown action no-such-action\n", r.StdErr);
    }
}
