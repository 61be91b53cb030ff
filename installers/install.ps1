# Install the Tokligence Gateway single-file binary on Windows.
#
#   irm https://raw.githubusercontent.com/tokligence/tokligence-gateway/main/installers/install.ps1 | iex
#
# It downloads tokligence-win32-x64.exe, checks it against the release's
# SHA256SUMS, installs it as tokligence.exe (and gatewayd.exe, a copy) into a
# user folder, adds that folder to the user's PATH and prints what to do next.
# Nothing is installed unless the checksum matches. Settings, all optional:
#
#   $env:TOKLIGENCE_VERSION            release to install, e.g. 0.2.0 (default: the latest)
#   $env:TOKLIGENCE_INSTALL_DIR        where to install (default: %LOCALAPPDATA%\Programs\tokligence\bin)
#   $env:TOKLIGENCE_DOWNLOAD_BASE_URL  releases base URL, for mirrors laid out like
#                                      GitHub's: <base>/download/v<version>/<file>
#                                      and <base>/latest/download/<file>

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

function Install-Tokligence {
    $defaultBase = 'https://github.com/tokligence/tokligence-gateway/releases'

    $arch = $env:PROCESSOR_ARCHITECTURE
    if ($env:PROCESSOR_ARCHITEW6432) { $arch = $env:PROCESSOR_ARCHITEW6432 }
    if ($arch -ne 'AMD64' -and $arch -ne 'ARM64') {
        throw "No prebuilt binary for $arch Windows; install the Python package: pip install tokligence"
    }
    # ARM64 Windows runs the x64 binary through its emulation layer.
    $asset = 'tokligence-win32-x64.exe'

    $base = $env:TOKLIGENCE_DOWNLOAD_BASE_URL
    if (-not $base) { $base = $defaultBase }
    $base = $base.TrimEnd('/')
    if ($env:TOKLIGENCE_VERSION) {
        $version = $env:TOKLIGENCE_VERSION.TrimStart('v')
        $release = "$base/download/v$version"
    } else {
        $version = 'latest'
        $release = "$base/latest/download"
    }
    $dir = $env:TOKLIGENCE_INSTALL_DIR
    if (-not $dir) { $dir = Join-Path $env:LOCALAPPDATA 'Programs\tokligence\bin' }

    Write-Host "Installing Tokligence Gateway ($version, win32-x64) into $dir"
    $tmp = Join-Path ([System.IO.Path]::GetTempPath()) ("tokligence-" + [guid]::NewGuid())
    New-Item -ItemType Directory -Path $tmp | Out-Null
    try {
        # TLS 1.2 for Windows PowerShell 5.1, whose default may be older.
        [Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
        $sums = Join-Path $tmp 'SHA256SUMS'
        $binary = Join-Path $tmp $asset
        try {
            Invoke-WebRequest -UseBasicParsing -Uri "$release/SHA256SUMS" -OutFile $sums
        } catch {
            throw "Could not download $release/SHA256SUMS (offline? set TOKLIGENCE_DOWNLOAD_BASE_URL to a mirror): $_"
        }
        Invoke-WebRequest -UseBasicParsing -Uri "$release/$asset" -OutFile $binary

        $expected = $null
        foreach ($line in Get-Content $sums) {
            $fields = $line.Trim() -split '\s+'
            if ($fields.Count -ge 2 -and ($fields[1] -eq $asset -or $fields[1] -eq "*$asset")) {
                $expected = $fields[0].ToLowerInvariant()
                break
            }
        }
        if (-not $expected) { throw "$release/SHA256SUMS lists no checksum for $asset; nothing installed" }
        $actual = (Get-FileHash -Algorithm SHA256 -Path $binary).Hash.ToLowerInvariant()
        if ($expected -ne $actual) {
            throw "Checksum mismatch for ${asset}: expected $expected, got $actual; nothing installed"
        }

        $installed = & $binary --version
        if ($LASTEXITCODE -ne 0) { throw "The downloaded binary does not run here; nothing installed" }

        New-Item -ItemType Directory -Force -Path $dir | Out-Null
        Copy-Item -Force $binary (Join-Path $dir 'tokligence.exe')
        # The binary acts as gatewayd when its file is called so.
        Copy-Item -Force $binary (Join-Path $dir 'gatewayd.exe')
    } finally {
        Remove-Item -Recurse -Force $tmp -ErrorAction SilentlyContinue
    }

    $userPath = [Environment]::GetEnvironmentVariable('Path', 'User')
    if (-not $userPath) { $userPath = '' }
    $onPath = ($userPath -split ';') -contains $dir
    if (-not $onPath) {
        [Environment]::SetEnvironmentVariable('Path', ($userPath.TrimEnd(';') + ";$dir").TrimStart(';'), 'User')
    }

    Write-Host "Installed ${installed}: $dir\tokligence.exe (and gatewayd.exe)"
    Write-Host ''
    Write-Host 'Next steps:'
    if (-not $onPath) { Write-Host "  - $dir was added to your PATH: open a new terminal" }
    Write-Host '  - start the gateway:   tokligence          (serves http://127.0.0.1:8081)'
    Write-Host '  - point clients at it: OPENAI_BASE_URL=http://127.0.0.1:8081/v1'
    Write-Host '                         ANTHROPIC_BASE_URL=http://127.0.0.1:8081'
    Write-Host '  - see every setting:   tokligence config show'
}

Install-Tokligence
